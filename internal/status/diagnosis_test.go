package status

import (
	"errors"
	"html"
	"net/http"
	"strings"
	"testing"

	"github.com/nxray/nxray/diagnose"
)

// chainVerdict is a lame delegation as the engine reports it now: the
// resolvers, the root, test. and the zone's own servers, each probe
// naming its zone.
func chainVerdict(id, name string) diagnose.Verdict {
	v := verdict(id, name, diagnose.LameDelegation)
	v.Zone = "lame.test."
	q := name + " A +norec +dnssec"
	v.Evidence = []diagnose.Evidence{
		{Server: "127.0.0.1:5300", Role: "upstream", Query: name + " A", Rcode: "SERVFAIL", RTTms: 20},
		{Server: "127.0.0.2:5300", Role: "alternate", Query: name + " A +cd +dnssec", Rcode: "SERVFAIL", RTTms: 21},
		{Server: "127.0.0.10:53", Role: "root", Zone: ".", Query: q, Rcode: "NOERROR", RTTms: 0.4},
		{Server: "127.0.0.11:53", Role: "authoritative", Zone: "test.", Query: q, Rcode: "NOERROR", RTTms: 0.5},
		{Server: "127.0.0.12:53", Role: "authoritative", Zone: "lame.test.", Query: q, Rcode: "REFUSED", RTTms: 1.5},
		{Server: "127.0.0.13:53", Role: "authoritative", Zone: "lame.test.", Query: q, Error: "timeout"},
		{Server: "127.0.0.14:53", Role: "authoritative", Zone: "lame.test.", Query: "lame.test. SOA +norec", Rcode: "NOERROR", AA: true, RTTms: 2},
		{Server: "127.0.0.14:53", Role: "authoritative", Zone: "lame.test.", Query: q, Rcode: "NOERROR", AA: true, Answers: 1, RTTms: 2},
		{Server: "127.0.0.15:53", Role: "authoritative", Zone: "lame.test.", Query: q, Rcode: "NXDOMAIN", AA: true, RTTms: 1},
		{Server: "192.0.2.1:53", Role: "authoritative", Zone: "lame.test.", Query: q, Error: "not probed: 192.0.2.1 is in diagnosis.deny_networks (192.0.2.0/24)"},
		{Role: "not asked", Query: "3 probes not sent"},
	}
	return v
}

// Each probe gets the colour of what it answered.
func TestOutcomeOf(t *testing.T) {
	tests := []struct {
		e     diagnose.Evidence
		bogus bool
		want  outcome
	}{
		{diagnose.Evidence{Rcode: "NOERROR", AA: true}, false, outAA},
		{diagnose.Evidence{Rcode: "NOERROR", AA: true}, true, outBogus},
		{diagnose.Evidence{Rcode: "NOERROR"}, false, outReferral},
		{diagnose.Evidence{Rcode: "NXDOMAIN", AA: true}, false, outNXDomain},
		{diagnose.Evidence{Rcode: "REFUSED"}, false, outRefused},
		{diagnose.Evidence{Rcode: "SERVFAIL"}, false, outBogus},
		{diagnose.Evidence{Rcode: "NOERROR", EDE: []uint16{7}}, false, outBogus},
		{diagnose.Evidence{Rcode: "FORMERR"}, false, outBogus},
		{diagnose.Evidence{Error: "timeout"}, false, outTimeout},
		{diagnose.Evidence{Error: "read: connection refused"}, false, outTimeout},
		{diagnose.Evidence{Error: "not probed: 192.0.2.1 is in diagnosis.deny_networks"}, false, outNotProbed},
	}
	for _, tt := range tests {
		if got := outcomeOf(tt.e, tt.bogus); got != tt.want {
			t.Errorf("%+v bogus %v: %s, want %s", tt.e, tt.bogus, outcomeStyle[got].label, outcomeStyle[tt.want].label)
		}
	}
}

// The picture's rows run from the resolvers to the root and down the
// zone cuts; each server is one box, coloured by its answer to the
// failing question; old evidence without zones is placed by its question.
func TestEvidenceRows(t *testing.T) {
	rows := evidenceRows(chainVerdict("c", "www.lame.test."))
	var got []string
	for _, r := range rows {
		line := r.label + ":"
		for _, b := range r.boxes {
			line += " " + b.server + "=" + outcomeStyle[b.outcome].label
		}
		got = append(got, line)
	}
	want := []string{
		"upstream and alternates: 127.0.0.1:5300=SERVFAIL or bogus signature 127.0.0.2:5300=SERVFAIL or bogus signature",
		".: 127.0.0.10:53=referral or answer without aa",
		"test.: 127.0.0.11:53=referral or answer without aa",
		"lame.test.: 127.0.0.12:53=REFUSED 127.0.0.13:53=timeout or no answer 127.0.0.14:53=authoritative answer " +
			"127.0.0.15:53=NXDOMAIN 192.0.2.1:53=not probed",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("rows:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	aside := chainVerdict("x", "www.lame.test.")
	aside.Evidence = append(aside.Evidence, diagnose.Evidence{Server: "127.0.0.40:53", Role: "ns lookup", Zone: "other.test.",
		Query: "ns1.other.test. A +norec +dnssec", Rcode: "NOERROR", AA: true})
	if r := evidenceRows(aside); len(r) != 5 || r[4].label != "other.test." || !r[4].aside || r[3].aside {
		t.Errorf("a zone asked for an NS address is not set aside after the path: %+v", r)
	}
	if text := parseSVG(t, evidenceSVG(aside)); !strings.Contains(text, "NS lookup: other.test.") {
		t.Errorf("the aside row is not labelled: %s", text)
	}
	twice := chainVerdict("t", "www.lame.test.")
	twice.Evidence = append([]diagnose.Evidence{{Server: "127.0.0.2:5300", Role: "alternate", Query: "www.lame.test. A +cd +dnssec",
		Rcode: "NOERROR", Answers: 1}}, twice.Evidence...)
	if b := evidenceRows(twice)[0].boxes[0]; b.server != "127.0.0.2:5300" || b.outcome != outBogus || len(b.tips) != 2 {
		t.Errorf("a resolver's SERVFAIL without +cd gives way to its answer with +cd: %+v", b)
	}
	if b := rows[3].boxes[2]; !strings.HasPrefix(b.headline, "★ NOERROR aa") || len(b.tips) != 2 {
		t.Errorf("the server asked twice: %+v", b)
	}

	old := chainVerdict("o", "www.lame.test.")
	for i := range old.Evidence {
		old.Evidence[i].Zone = ""
	}
	var labels []string
	for _, r := range evidenceRows(old) {
		labels = append(labels, r.label)
	}
	if strings.Join(labels, " ") != "upstream and alternates . lame.test." {
		t.Errorf("old evidence's rows: %q", labels)
	}
	bogus := chainVerdict("b", "www.lame.test.")
	bogus.Cause = diagnose.DNSSECBogus
	if b := evidenceRows(bogus)[3].boxes[2]; b.outcome != outBogus || b.headline != "★ bogus aa · 2.0 ms" {
		t.Errorf("an authoritative answer of a bogus zone: %s %q", outcomeStyle[b.outcome].label, b.headline)
	}
}

// The permalink shows a live verdict with its evidence, picture and JSON
// link; a verdict kept only in history shows too; an unknown one is 404.
func TestDiagnosisPage(t *testing.T) {
	evil := chainVerdict("e", hostileName)
	evil.Advice = `<b onmouseover="alert(1)">`
	h := sampleHistory()
	s := newTestServer(t, Config{History: h, Engine: newFakeEngine(append(sampleVerdicts(), evil)...)})
	w := get(t, s, "/diagnoses/e")
	body := w.Body.String()
	if w.Code != 200 {
		t.Fatalf("%d %s", w.Code, body)
	}
	for _, want := range []string{html.EscapeString(hostileName), `&lt;b onmouseover=&#34;alert(1)&#34;&gt;`,
		`<span class="badge cause-lame_delegation">lame_delegation</span>`, "summary of ", `href="/api/v1/diagnoses/e"`,
		`<img id="evidence-picture" src="/diagnoses/e/evidence.svg" width="1100" height="`, "127.0.0.12:53", "REFUSED",
		"not probed: 192.0.2.1", `<td class="mono">lame.test.</td>`, `id="name-log"`} {
		if !strings.Contains(body, want) {
			t.Errorf("diagnosis lacks %s", want)
		}
	}
	for _, bad := range []string{"<script>alert", "<b onmouseover", "</svg><"} {
		if strings.Contains(body, bad) {
			t.Errorf("diagnosis holds raw %s", bad)
		}
	}
	w = get(t, s, "/diagnoses/old")
	if w.Code != 200 || !strings.Contains(w.Body.String(), "gone.ok.test.") || !strings.Contains(w.Body.String(), "Kept in history") {
		t.Errorf("kept verdict: %d %s", w.Code, w.Body)
	}
	w = get(t, s, "/diagnoses/nothing")
	if w.Code != http.StatusNotFound || !strings.Contains(w.Body.String(), `No diagnosis with id &#34;nothing&#34;`) {
		t.Errorf("unknown: %d %s", w.Code, w.Body)
	}
	h.err = errors.New("database is locked")
	if w := get(t, s, "/diagnoses/old"); w.Code != 500 || !strings.Contains(w.Body.String(), "database is locked") {
		t.Errorf("history failing: %d %s", w.Code, w.Body)
	}
	if w := get(t, s, "/diagnoses/e"); w.Code != 200 {
		t.Errorf("a live verdict while history fails: %d", w.Code)
	}
}

// Without history, live verdicts still have their permalink, and no
// notice about history clutters it; a missing one says history is off.
func TestDiagnosisWithoutHistory(t *testing.T) {
	s := newTestServer(t, Config{})
	w := get(t, s, "/diagnoses/c")
	if w.Code != 200 || !strings.Contains(w.Body.String(), "www.lame.test.") || strings.Contains(w.Body.String(), "History is off") ||
		strings.Contains(w.Body.String(), `id="name-log"`) {
		t.Errorf("live verdict: %d %s", w.Code, w.Body)
	}
	if w := get(t, s, "/diagnoses/c/evidence.svg"); w.Code != 200 {
		t.Errorf("picture: %d", w.Code)
	}
	if body := get(t, s, "/").Body.String(); !strings.Contains(body, `<a href="/diagnoses/c">permalink`) ||
		!strings.Contains(body, `<a href="/queries" id="nav-queries">`) {
		t.Errorf("the page links neither to the permalink nor to the views: %s", body)
	}
	w = get(t, s, "/diagnoses/old")
	if w.Code != 404 || !strings.Contains(w.Body.String(), "history (which keeps them longer) is off") {
		t.Errorf("missing: %d %s", w.Code, w.Body)
	}
}

// The evidence picture is a well-formed SVG whatever the names hold, and
// shows each server, its answer, the zones and the legend.
func TestEvidenceSVG(t *testing.T) {
	evil := chainVerdict("e", hostileName)
	evil.Evidence = append(evil.Evidence, diagnose.Evidence{Server: `"><script>x</script>`, Role: "authoritative",
		Zone: `</text></svg><svg onload="alert(1)">`, Query: hostileName + " A", Error: "</title>&"})
	s := newTestServer(t, Config{Engine: newFakeEngine(evil)})
	w := get(t, s, "/diagnoses/e/evidence.svg")
	if w.Code != 200 || w.Header().Get("Content-Type") != "image/svg+xml" {
		t.Fatalf("%d %s", w.Code, w.Header().Get("Content-Type"))
	}
	text := parseSVG(t, w.Body.Bytes())
	for _, want := range []string{"zone lame.test.", "zone .", "zone test.", "upstream and alternates", "127.0.0.12:53",
		"★ REFUSED · 1.5 ms", "timeout", "not probed", "authoritative answer", "SERVFAIL or bogus signature", `"><script>x</script>`,
		`NS lookup: </text></svg>`, hostileName[:30]} {
		if !strings.Contains(text, want) {
			t.Errorf("picture lacks %q:\n%s", want, text)
		}
	}
	if w := get(t, s, "/diagnoses/nothing/evidence.svg"); w.Code != 404 || !strings.Contains(parseSVG(t, w.Body.Bytes()), "No such diagnosis") {
		t.Errorf("unknown: %d", w.Code)
	}
	empty := verdict("z", "x.test.", diagnose.Unknown)
	empty.Evidence = nil
	if text := parseSVG(t, evidenceSVG(empty)); !strings.Contains(text, "No server was probed") {
		t.Errorf("no evidence: %s", text)
	}
}

// Another site can link to a view (a permalink shared in a chat opens), but
// cannot embed the SVGs or fetch the views.
func TestViewsCrossSite(t *testing.T) {
	s := newTestServer(t, Config{History: sampleHistory()})
	tests := []struct {
		target string
		header []string
		want   int
	}{
		{"/diagnoses/c", []string{"Sec-Fetch-Site", "cross-site", "Sec-Fetch-Mode", "navigate"}, 200},
		{"/queries", []string{"Sec-Fetch-Site", "cross-site", "Sec-Fetch-Mode", "navigate"}, 200},
		{"/queries", []string{"Sec-Fetch-Site", "cross-site", "Sec-Fetch-Mode", "no-cors"}, 403},
		{"/timeline", []string{"Sec-Fetch-Site", "same-site", "Sec-Fetch-Mode", "cors"}, 403},
		{"/timeline.svg", []string{"Sec-Fetch-Site", "cross-site", "Sec-Fetch-Mode", "no-cors"}, 403},
		{"/diagnoses/c/evidence.svg", []string{"Sec-Fetch-Site", "cross-site"}, 403},
		{"/diagnoses/c/evidence.svg", []string{"Origin", "http://evil.example"}, 403},
		{"/timeline.svg", []string{"Sec-Fetch-Site", "same-origin", "Sec-Fetch-Mode", "no-cors"}, 200},
		{"/diagnoses/c/evidence.svg", nil, 200},
		{"/timeline", []string{"Sec-Fetch-Site", "same-origin", "Sec-Fetch-Mode", "navigate"}, 200},
	}
	for _, tt := range tests {
		w := get(t, s, tt.target, tt.header...)
		if w.Code != tt.want {
			t.Errorf("%s %q: %d, want %d", tt.target, tt.header, w.Code, tt.want)
		}
		if w.Code == 403 && strings.Contains(w.Body.String(), "lame") {
			t.Errorf("%s: refusal gives data", tt.target)
		}
	}
}
