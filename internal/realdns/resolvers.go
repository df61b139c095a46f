package realdns

// startMoreResolvers starts the resolvers beyond the four Unbound roles of
// startUnbounds. None yet.
func (t *Tree) startMoreResolvers() error { return nil }
