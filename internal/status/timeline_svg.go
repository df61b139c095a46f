package status

import (
	"slices"
	"strconv"
	"time"

	"github.com/nxray/nxray/diagnose"
)

// The timeline chart's fixed size and layout.
const (
	chartW, chartH           = 960, 320
	chartLeft, chartRight    = 52, 230 // the right margin holds the legend
	chartTop, chartBottom    = 36, 44
	maxBuckets, maxSeries    = 500, 16
	unlinked                 = "" // failures linked to no verdict
	unlinkedLabel            = "no diagnosis"
	otherLabel               = "other causes"
	chartText, chartMuted    = "#1b1b1f", "#5f6368"
	chartGrid, chartBoxFrame = "#dadce0", "#5f6368"
)

// causeColour is each cause's colour in the chart, distinct enough to
// tell stacked bars apart.
var causeColour = map[string]string{
	string(diagnose.NXDomainConfirmed):          "#2e7d32",
	string(diagnose.StaleNegativeCache):         "#0277bd",
	string(diagnose.ResolverFiltering):          "#6a1b9a",
	string(diagnose.DNSSECBogus):                "#c62828",
	string(diagnose.DNSSECExpired):              "#ad1457",
	string(diagnose.LameDelegation):             "#ef6c00",
	string(diagnose.AuthoritativeUnreachable):   "#4e342e",
	string(diagnose.AuthoritativeInconsistent):  "#f9a825",
	string(diagnose.PartialAuthoritativeOutage): "#8d6e63",
	string(diagnose.UpstreamRefused):            "#1565c0",
	string(diagnose.UpstreamUnreachable):        "#37474f",
	string(diagnose.TruncatedNoTCP):             "#00838f",
	string(diagnose.Unknown):                    "#757575",
	string(diagnose.Healthy):                    "#9e9d24",
	unlinked:                                    "#b0bec5",
	otherLabel:                                  "#546e7a",
}

// series is one cause's bars.
type series struct {
	cause  string // "" unlinked, otherLabel for the rest
	counts []int
	total  int
}

func (s series) label() string {
	if s.cause == unlinked {
		return unlinkedLabel
	}
	return s.cause
}

func (s series) colour() string {
	if c, ok := causeColour[s.cause]; ok {
		return c
	}
	return causeColour[otherLabel]
}

// chartSeries orders fc's causes as the README's cause table does, then
// the unlinked failures, then causes nxray does not know; beyond
// maxSeries the rest are summed as "other causes". Every series has n
// buckets, n at most maxBuckets.
func chartSeries(fc FailureCounts) ([]series, int) {
	n := 0
	for _, c := range fc.Cause {
		n = max(n, len(c))
	}
	n = min(n, maxBuckets)
	var order []string
	for _, c := range diagnose.Causes {
		if _, ok := fc.Cause[string(c)]; ok {
			order = append(order, string(c))
		}
	}
	if _, ok := fc.Cause[unlinked]; ok {
		order = append(order, unlinked)
	}
	var strange []string
	for c := range fc.Cause {
		if _, known := causeColour[c]; !known || c == otherLabel {
			strange = append(strange, c)
		}
	}
	slices.Sort(strange)
	order = append(order, strange...)
	var out []series
	for i, c := range order {
		if len(order) > maxSeries && i >= maxSeries-1 {
			if i == maxSeries-1 {
				out = append(out, series{cause: otherLabel, counts: make([]int, n)})
			}
			out[maxSeries-1] = addCounts(out[maxSeries-1], fc.Cause[c], n)
			continue
		}
		out = append(out, addCounts(series{cause: c, counts: make([]int, n)}, fc.Cause[c], n))
	}
	return out, n
}

func addCounts(s series, counts []int, n int) series {
	for i, v := range counts[:min(len(counts), n)] {
		if v > 0 {
			s.counts[i] += v
			s.total += v
		}
	}
	return s
}

// niceCeil is the smallest 1, 2 or 5 times a power of ten at or above m.
func niceCeil(m int) int {
	for p := 1; ; p *= 10 {
		for _, f := range []int{1, 2, 5} {
			if f*p >= m {
				return f * p
			}
		}
	}
}

// timelineSVG draws fc as stacked bars per cause, with axes and a legend.
func timelineSVG(fc FailureCounts, title string) []byte {
	ss, n := chartSeries(fc)
	var w svgWriter
	w.open(chartW, chartH, title)
	w.text(chartLeft, 22, "start", chartText, "600", title)
	plotW, plotH := float64(chartW-chartLeft-chartRight), float64(chartH-chartTop-chartBottom)
	base := float64(chartTop) + plotH
	totals := make([]int, n)
	for _, s := range ss {
		for i, v := range s.counts {
			totals[i] += v
		}
	}
	top := niceCeil(max(1, slices.Max(append(totals, 0))))
	for _, f := range []int{0, 1, 2, 3, 4} { // y grid and labels
		y := base - plotH*float64(f)/4
		w.line(chartLeft, y, chartLeft+plotW, y, chartGrid)
		if v := top * f / 4; top*f%4 == 0 || f == 4 {
			w.text(chartLeft-6, y+4, "end", chartMuted, "", strconv.Itoa(v))
		}
	}
	if n > 0 {
		drawBars(&w, ss, fc, n, top, plotW, plotH, base)
	}
	if slices.Max(append(totals, 0)) == 0 {
		w.text(chartLeft+plotW/2, float64(chartTop)+plotH/2, "middle", chartMuted, "", "No failures in this span.")
	}
	drawLegend(&w, ss)
	return w.close()
}

// drawBars stacks each bucket's counts, labels the time axis about every
// sixth of the span (on round times), and gives each piece a tooltip.
func drawBars(w *svgWriter, ss []series, fc FailureCounts, n, top int, plotW, plotH, base float64) {
	bw := plotW / float64(n)
	every := max(1, n/6)
	for i := range n {
		x := float64(chartLeft) + bw*float64(i)
		at := fc.Start.Add(time.Duration(i) * fc.Step).UTC()
		if tick := time.Duration(every) * fc.Step; (tick > 0 && at.Equal(at.Truncate(tick))) || (tick <= 0 && i%every == 0) {
			w.line(x, base, x, base+4, chartMuted)
			w.text(x, base+18, "middle", chartMuted, "", at.Format("15:04"))
		}
		y := base
		for _, s := range ss {
			v := s.counts[i]
			if v == 0 {
				continue
			}
			h := plotH * float64(v) / float64(top)
			y -= h
			w.rect(x+bw*0.1, y, bw*0.8, h, s.colour(), "",
				s.label()+": "+strconv.Itoa(v)+" at "+at.Format("15:04")+" UTC")
		}
	}
	w.line(chartLeft, base, chartLeft+plotW, base, chartMuted)
	w.text(chartLeft+plotW/2, float64(chartH)-6, "middle", chartMuted, "", "time (UTC), each bar "+fc.Step.String())
}

// drawLegend lists the causes with failures, each with its colour and total.
func drawLegend(w *svgWriter, ss []series) {
	x, y := float64(chartW-chartRight+16), float64(chartTop)
	w.text(x, y+4, "start", chartText, "600", "failures by cause")
	shown := 0
	for _, s := range ss {
		if s.total == 0 {
			continue
		}
		y += 20
		w.rect(x, y-6, 12, 12, s.colour(), "", "")
		w.text(x+18, y+4, "start", chartText, "", clip(s.label(), 24)+" ("+strconv.Itoa(s.total)+")")
		shown++
	}
	if shown == 0 {
		w.text(x, y+24, "start", chartMuted, "", "none")
	}
}
