package status

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/miekg/dns"

	"github.com/nxray/nxray/diagnose"
)

// outcome is what one server answered, as the evidence picture colours it.
type outcome int

const (
	outAA outcome = iota
	outReferral
	outNXDomain
	outRefused
	outTimeout
	outBogus
	outNotProbed
)

// outcomeStyle is each outcome's fill, frame and legend text.
var outcomeStyle = []struct{ fill, stroke, label string }{
	outAA:        {"#c8e6c9", "#2e7d32", "authoritative answer"},
	outReferral:  {"#e3f2fd", "#1565c0", "referral or answer without aa"},
	outNXDomain:  {"#ede7f6", "#5e35b1", "NXDOMAIN"},
	outRefused:   {"#ffe0b2", "#e65100", "REFUSED"},
	outTimeout:   {"#cfd8dc", "#37474f", "timeout or no answer"},
	outBogus:     {"#ffcdd2", "#c62828", "SERVFAIL or bogus signature"},
	outNotProbed: {"#ffffff", "#9e9e9e", "not probed"},
}

// dnssecEDE are the Extended DNS Errors that say a signature is wrong.
var dnssecEDE = []uint16{6, 7, 8, 9, 10, 11, 12}

// outcomeOf reads one probe; bogus says the verdict found this server's
// zone's signatures wrong, so its authoritative answers are bogus.
func outcomeOf(e diagnose.Evidence, bogus bool) outcome {
	switch {
	case e.Rcode == "" && (e.Error == "" || strings.HasPrefix(e.Error, "not probed")):
		return outNotProbed
	case e.Rcode == "":
		return outTimeout
	case e.Rcode == "SERVFAIL" || slices.ContainsFunc(e.EDE, func(c uint16) bool { return slices.Contains(dnssecEDE, c) }):
		return outBogus
	case e.Rcode == "NXDOMAIN":
		return outNXDomain
	case e.Rcode == "REFUSED":
		return outRefused
	case e.Rcode == "NOERROR" && e.AA && bogus:
		return outBogus
	case e.Rcode == "NOERROR" && e.AA:
		return outAA
	case e.Rcode == "NOERROR":
		return outReferral
	}
	return outBogus // FORMERR, NOTIMP and the like: the server failed
}

// Bounds on the picture: the evidence is bounded already, these keep one
// odd verdict from drawing a poster.
const (
	maxZoneRows    = 12
	maxRowServers  = 15
	evW            = 1100
	evLabelW       = 200
	evBoxW, evBoxH = 166, 52
	evGap          = 12
	evPerLine      = (evW - evLabelW - evGap) / (evBoxW + evGap)
	evTitleH       = 40
	evLegendH      = 92
)

// serverBox is one server of one zone (or one resolver) and its probes.
type serverBox struct {
	server, role string
	outcome      outcome
	headline     string // what it answered to the failing question
	tips         []string
}

// chainRow is one zone cut on the path (or the resolvers' row).
type chainRow struct {
	label string
	// aside: a zone off the name's path, asked for a name server's
	// address; drawn after the path, not joined to it.
	aside bool
	boxes []serverBox
	more  int // servers not drawn
}

// evidenceRows groups v's probes by the zone whose server was asked,
// from the root down, after a row for the upstream and alternates.
func evidenceRows(v diagnose.Verdict) []chainRow {
	question := v.Name + " " + v.Qtype
	bogusCause := v.Cause == diagnose.DNSSECBogus || v.Cause == diagnose.DNSSECExpired
	byZone := map[string]*chainRow{}
	var zones []string
	for _, e := range v.Evidence {
		zone, ok := zoneOf(e, v)
		if !ok {
			continue
		}
		row := byZone[zone]
		if row == nil {
			row = &chainRow{label: zone, aside: zone != resolversRow && !onPath(zone, v)}
			byZone[zone] = row
			zones = append(zones, zone)
		}
		bogus := bogusCause && zone != resolversRow && strings.EqualFold(zone, v.Zone)
		row.add(e, outcomeOf(e, bogus), asks(e.Query, question))
	}
	depth := func(z string) int {
		switch {
		case z == resolversRow:
			return -1
		case byZone[z].aside:
			return 1000 + dns.CountLabel(z)
		}
		return dns.CountLabel(z)
	}
	slices.SortFunc(zones, func(a, b string) int {
		return cmp.Or(cmp.Compare(depth(a), depth(b)), strings.Compare(a, b))
	})
	var out []chainRow
	for _, z := range zones[:min(len(zones), maxZoneRows+1)] {
		out = append(out, *byZone[z])
	}
	return out
}

// onPath says whether zone is on the way from the root to v's name (or
// to its zone, which an alias may have led elsewhere).
func onPath(zone string, v diagnose.Verdict) bool {
	return dns.IsSubDomain(zone, strings.ToLower(dns.Fqdn(v.Name))) ||
		(v.Zone != "" && dns.IsSubDomain(zone, strings.ToLower(dns.Fqdn(v.Zone))))
}

// asks says whether query ("NAME TYPE +flags") is question ("NAME TYPE"),
// whatever its flags and the name's case.
func asks(query, question string) bool {
	return len(query) >= len(question) && strings.EqualFold(query[:len(question)], question) &&
		(len(query) == len(question) || query[len(question)] == ' ')
}

// resolversRow labels the upstream and alternates' row.
const resolversRow = "upstream and alternates"

// zoneOf is the row a probe belongs in: the resolvers', or its zone's,
// which old verdicts (kept before evidence named zones) leave out: then
// the verdict's zone when the question lies in it, else the question's
// parent. Rows that are no probe ("not asked") belong nowhere.
func zoneOf(e diagnose.Evidence, v diagnose.Verdict) (string, bool) {
	switch e.Role {
	case "upstream", "alternate":
		return resolversRow, true
	case "root", "authoritative", "ns lookup":
	default:
		return "", false
	}
	if e.Zone != "" {
		return strings.ToLower(dns.Fqdn(e.Zone)), true
	}
	if e.Role == "root" {
		return ".", true
	}
	qname, _, _ := strings.Cut(e.Query, " ")
	qname = strings.ToLower(dns.Fqdn(qname))
	if v.Zone != "" && dns.IsSubDomain(strings.ToLower(dns.Fqdn(v.Zone)), qname) {
		return strings.ToLower(dns.Fqdn(v.Zone)), true
	}
	if i, end := dns.NextLabel(qname, 0); !end {
		return qname[i:], true
	}
	return ".", true
}

// severity ranks outcomes: of a server's answers to the failing question
// (a resolver is asked with and without +cd), the worst colours its box.
var severity = map[outcome]int{outNotProbed: 0, outAA: 1, outReferral: 2, outNXDomain: 3, outRefused: 4,
	outTimeout: 5, outBogus: 6}

// add counts probe e onto its server's box; the worst answer to the
// failing question decides the box's colour, else the server's first probe.
func (r *chainRow) add(e diagnose.Evidence, o outcome, asked bool) {
	tip := e.Query + " → " + cmp.Or(e.Rcode, e.Error, "no answer")
	if e.AA {
		tip += " aa"
	}
	if e.Rcode != "" {
		tip += " (" + ftoa(e.RTTms, 1) + " ms)"
	}
	i := slices.IndexFunc(r.boxes, func(b serverBox) bool { return b.server == e.Server })
	if i < 0 {
		if len(r.boxes) == maxRowServers {
			r.more++
			return
		}
		r.boxes = append(r.boxes, serverBox{server: e.Server, role: e.Role, outcome: o, headline: headline(e, o)})
		i = len(r.boxes) - 1
	} else if asked && (!r.boxes[i].askedQuestion() || severity[o] > severity[r.boxes[i].outcome]) {
		r.boxes[i].outcome, r.boxes[i].headline = o, headline(e, o)
	}
	if asked {
		r.boxes[i].headline = "★ " + strings.TrimPrefix(r.boxes[i].headline, "★ ")
	}
	if len(r.boxes[i].tips) < 8 {
		r.boxes[i].tips = append(r.boxes[i].tips, tip)
	}
}

func (b serverBox) askedQuestion() bool { return strings.HasPrefix(b.headline, "★ ") }

// headline is a probe's answer (whose outcome is o) in a few words.
func headline(e diagnose.Evidence, o outcome) string {
	switch {
	case e.Rcode == "":
		return clip(cmp.Or(e.Error, "no answer"), 22)
	case e.AA && o == outBogus && e.Rcode == "NOERROR":
		return "bogus aa · " + ftoa(e.RTTms, 1) + " ms"
	case e.AA:
		return e.Rcode + " aa · " + ftoa(e.RTTms, 1) + " ms"
	}
	return e.Rcode + " · " + ftoa(e.RTTms, 1) + " ms"
}

// rowLines is how many lines of boxes a row takes.
func (r chainRow) lines() int { return max(1, (len(r.boxes)+evPerLine-1)/evPerLine) }

// evidenceHeight is the picture's height for rows.
func evidenceHeight(rows []chainRow) int {
	h := evTitleH + evLegendH
	for _, r := range rows {
		h += r.lines()*(evBoxH+evGap) + evGap
	}
	if len(rows) == 0 {
		h += 40
	}
	return h
}

// evidenceSVG draws v's delegation path: a row per zone cut from the root
// down, each server a box coloured by what it answered, and the resolvers
// above; a legend below.
func evidenceSVG(v diagnose.Verdict) []byte {
	rows := evidenceRows(v)
	height := evidenceHeight(rows)
	var w svgWriter
	title := "Evidence for " + clip(v.Name, 80) + " " + v.Qtype
	w.open(evW, height, title)
	w.text(16, 24, "start", chartText, "600", title)
	y := float64(evTitleH)
	if len(rows) == 0 {
		w.text(16, y+24, "start", chartMuted, "", "No server was probed for this verdict.")
		y += 40
	}
	for i, r := range rows {
		h := float64(r.lines()*(evBoxH+evGap) - evGap)
		label := r.label
		if label != resolversRow {
			label = "zone " + label
			if r.aside {
				label = "NS lookup: " + r.label
			}
		}
		w.text(16, y+20, "start", chartText, "600", clip(label, 26))
		if i > 0 && r.label != resolversRow && rows[i-1].label != resolversRow && !r.aside {
			w.line(28, y-evGap-4, 28, y+4, chartBoxFrame) // the cut from the zone above
		}
		if r.more > 0 {
			w.text(16, y+38, "start", chartMuted, "", "+"+strconv.Itoa(r.more)+" more servers")
		}
		for j, b := range r.boxes {
			bx := float64(evLabelW + (j%evPerLine)*(evBoxW+evGap))
			by := y + float64((j/evPerLine)*(evBoxH+evGap))
			drawBox(&w, b, bx, by)
		}
		y += h + 2*evGap
	}
	drawOutcomeLegend(&w, float64(height-evLegendH+10))
	return w.close()
}

func drawBox(w *svgWriter, b serverBox, x, y float64) {
	st := outcomeStyle[b.outcome]
	w.rect(x, y, evBoxW, evBoxH, st.fill, st.stroke, b.role+" "+b.server+" — "+st.label+"\n"+strings.Join(b.tips, "\n"))
	w.text(x+8, y+20, "start", chartText, "600", clip(cmp.Or(b.server, b.role), 24))
	w.text(x+8, y+40, "start", chartText, "", clip(b.headline, 26))
}

func drawOutcomeLegend(w *svgWriter, y float64) {
	w.text(16, y+4, "start", chartMuted, "", "★ answered the failing question; hover a box for every probe")
	x := 16.0
	for _, st := range outcomeStyle {
		width := 36.0
		for _, r := range st.label {
			width += map[bool]float64{true: 8.6, false: 6.4}[unicode.IsUpper(r)] // capitals are wider
		}
		if x+width > evW-16 {
			x, y = 16, y+22
		}
		w.rect(x, y+20, 14, 14, st.fill, st.stroke, "")
		w.text(x+20, y+32, "start", chartText, "", st.label)
		x += width
	}
}
