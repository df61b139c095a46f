package status

import (
	"bytes"
	"encoding/xml"
	"errors"
	"html"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// svgElements are the only elements the views' SVGs are made of.
var svgElements = []string{"svg", "title", "rect", "text", "line"}

// parseSVG checks that body is well-formed XML made only of svgElements
// (a name cannot have opened one of its own) and returns its text.
func parseSVG(t *testing.T, body []byte) string {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(body))
	var text strings.Builder
	depth := 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not XML: %v\n%s", err, body)
		}
		switch el := tok.(type) {
		case xml.StartElement:
			if depth == 0 && el.Name.Local != "svg" {
				t.Errorf("root element %s", el.Name.Local)
			}
			if !slices.Contains(svgElements, el.Name.Local) || el.Name.Space != "http://www.w3.org/2000/svg" {
				t.Errorf("element %s:%s in the SVG", el.Name.Space, el.Name.Local)
			}
			for _, a := range el.Attr {
				if strings.HasPrefix(strings.ToLower(a.Name.Local), "on") || a.Name.Local == "href" {
					t.Errorf("attribute %s on %s", a.Name.Local, el.Name.Local)
				}
			}
			depth++
		case xml.EndElement:
			depth--
		case xml.CharData:
			text.Write(el)
			text.WriteByte('\n')
		}
	}
	if depth != 0 {
		t.Errorf("unbalanced SVG, depth %d", depth)
	}
	return text.String()
}

// The timeline's chart is a well-formed SVG of a fixed size, with a bar
// piece per cause and bucket, a legend with totals and time labels; a
// cause or name full of markup stays text.
func TestTimelineSVG(t *testing.T) {
	h := sampleHistory()
	s := newTestServer(t, Config{History: h})
	w := get(t, s, "/timeline.svg?span=hour")
	if w.Code != 200 || w.Header().Get("Content-Type") != "image/svg+xml" {
		t.Fatalf("%d %s", w.Code, w.Header().Get("Content-Type"))
	}
	body := w.Body.Bytes()
	text := parseSVG(t, body)
	for _, want := range []string{"Failures per cause, last hour (UTC)", "lame_delegation (5)", "nxdomain_confirmed (4)",
		"no diagnosis (1)", "lame_delegation: 3 at 12:51 UTC", "12:10", "12:50", "each bar 1m0s", hostileName[:20]} {
		if !strings.Contains(text, want) {
			t.Errorf("chart lacks %q:\n%s", want, text)
		}
	}
	if !bytes.Contains(body, []byte(`width="960" height="320"`)) {
		t.Errorf("chart size not fixed: %.200s", body)
	}
	if want := t0.Add(time.Hour + time.Minute - time.Hour); !h.since.Equal(want) || h.step != time.Minute {
		t.Errorf("asked since %v step %v, want %v 1m", h.since, h.step, want)
	}

	get(t, s, "/timeline.svg?span=day")
	if want := t0.Add(time.Hour + 30*time.Minute - 24*time.Hour); !h.since.Equal(want) || h.step != 30*time.Minute {
		t.Errorf("day: asked since %v step %v, want %v 30m", h.since, h.step, want)
	}
	if w := get(t, s, "/timeline.svg?span=week"); w.Code != http.StatusBadRequest {
		t.Errorf("span=week: %d", w.Code)
	}
}

// No failures draws an empty chart that says so; counts beyond the bounds
// (buckets, causes) are cut, not drawn without end.
func TestTimelineSVGBounds(t *testing.T) {
	text := parseSVG(t, timelineSVG(FailureCounts{Start: t0, Step: time.Minute}, "empty"))
	if !strings.Contains(text, "No failures in this span.") || !strings.Contains(text, "none") {
		t.Errorf("empty chart: %s", text)
	}
	fc := FailureCounts{Start: t0, Step: time.Minute, Cause: map[string][]int{}}
	for i := range 40 {
		fc.Cause["cause"+strings.Repeat("x", i)] = slices.Repeat([]int{1}, 2000)
	}
	out := timelineSVG(fc, "many")
	text = parseSVG(t, out)
	if n := strings.Count(text, " at "); n > maxBuckets*maxSeries {
		t.Errorf("%d bar pieces", n)
	}
	if !strings.Contains(text, "other causes") {
		t.Errorf("the causes beyond %d are not summed as other causes", maxSeries)
	}
}

// The timeline page embeds the chart, lists the totals and the clients
// that fail most, each linking to its queries; names stay text.
func TestTimelinePage(t *testing.T) {
	s := newTestServer(t, Config{History: sampleHistory()})
	w := get(t, s, "/timeline?span=day")
	body := w.Body.String()
	if w.Code != 200 {
		t.Fatalf("%d %s", w.Code, body)
	}
	for _, want := range []string{`<img id="timeline-chart" src="/timeline.svg?span=day"`, `<a href="/timeline?span=hour">last hour</a>`,
		`<strong aria-current="page">last day</strong>`, "11 failed queries in the last day", "lame_delegation</span></td><td>5",
		`<a href="/queries?client=127.0.0.8">127.0.0.8</a></td><td>6`, html.EscapeString(hostileName)} {
		if !strings.Contains(body, want) {
			t.Errorf("timeline lacks %s", want)
		}
	}
	if i, j := strings.Index(body, ">127.0.0.8<"), strings.Index(body, ">127.0.0.7<"); i < 0 || j < i {
		t.Errorf("clients not most failures first")
	}
	if strings.Contains(body, "<script>alert") {
		t.Errorf("raw markup from a name")
	}
	if w := get(t, s, "/timeline?span=year"); w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "span wants hour or day") {
		t.Errorf("span=year: %d", w.Code)
	}
}

// Without history the timeline says so and draws nothing; a failing store
// is an error on the page and in the chart.
func TestTimelineHistoryState(t *testing.T) {
	s := newTestServer(t, Config{})
	w := get(t, s, "/timeline")
	if w.Code != 200 || !strings.Contains(w.Body.String(), "History is off") || strings.Contains(w.Body.String(), "<img") {
		t.Errorf("history off: %d %s", w.Code, w.Body)
	}
	if w := get(t, s, "/timeline.svg"); w.Code != http.StatusServiceUnavailable || !strings.Contains(parseSVG(t, w.Body.Bytes()), "History is off") {
		t.Errorf("chart with history off: %d %s", w.Code, w.Body)
	}
	h := sampleHistory()
	h.err = errors.New("disk <gone>")
	s = newTestServer(t, Config{History: h})
	if w := get(t, s, "/timeline"); w.Code != 500 || !strings.Contains(w.Body.String(), "Counting failures failed: disk &lt;gone&gt;") {
		t.Errorf("page on error: %d %s", w.Code, w.Body)
	}
	if w := get(t, s, "/timeline.svg"); w.Code != 500 || !strings.Contains(parseSVG(t, w.Body.Bytes()), "disk <gone>") {
		t.Errorf("chart on error: %d %s", w.Code, w.Body)
	}
}
