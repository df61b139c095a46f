package diagnose

// FloodNames is floodNames for the external tests: how many failing names
// under one zone within the flood window make a flood.
const FloodNames = floodNames
