package status

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/nxray/nxray/diagnose"
)

var diagnosisTmpl = viewTmpl("diagnosis.html")

// diagnosisData is what templates/diagnosis.html reads.
type diagnosisData struct {
	viewBase
	V        *diagnose.Verdict
	ID       string
	JSON     string // the verdict's JSON
	Picture  string // the evidence picture's URL
	PictureH int
	Log      string // the query log for this name
	Kept     bool   // found in history, not among the live verdicts
}

// lookup finds a verdict: live first, then kept in history.
func (s *Server) lookup(ctx context.Context, id string) (diagnose.Verdict, bool, error) {
	if v, ok := s.cfg.Engine.Get(id); ok {
		return v, false, nil
	}
	if s.cfg.History == nil {
		return diagnose.Verdict{}, false, errNoVerdict
	}
	v, ok, err := s.cfg.History.Verdict(ctx, id)
	switch {
	case err != nil:
		return v, false, err
	case !ok:
		return v, false, errNoVerdict
	}
	return v, true, nil
}

type noVerdict struct{}

func (noVerdict) Error() string { return "no such diagnosis" }

var errNoVerdict error = noVerdict{}

// diagnosisPage serves GET /diagnoses/{id}: one verdict's permalink.
func (s *Server) diagnosisPage(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	d := diagnosisData{viewBase: s.base(r, "diagnosis", "diagnosis"), ID: id}
	d.Off = "" // a live verdict shows without history
	v, kept, err := s.lookup(r.Context(), id)
	switch {
	case err == errNoVerdict:
		d.Problem = "No diagnosis with id " + strconv.Quote(id) + ": live verdicts are kept 10 minutes after they were last seen"
		if s.cfg.History == nil {
			d.Problem += ", and history (which keeps them longer) is off"
		}
		s.render(w, diagnosisTmpl, http.StatusNotFound, d)
		return
	case err != nil:
		d.Problem = "Reading the diagnosis failed: " + err.Error()
		s.render(w, diagnosisTmpl, http.StatusInternalServerError, d)
		return
	}
	d.V, d.Kept = &v, kept
	d.Title = "diagnosis of " + clip(v.Name, 80)
	esc := url.PathEscape(id)
	d.JSON = d.link("/api/v1/diagnoses/"+esc, nil)
	d.Picture = d.link("/diagnoses/"+esc+"/evidence.svg", nil)
	d.PictureH = evidenceHeight(evidenceRows(v))
	if s.cfg.History != nil {
		d.Log = d.link("/queries", url.Values{"name": {v.Name}})
	}
	s.render(w, diagnosisTmpl, http.StatusOK, d)
}

// evidenceImage serves GET /diagnoses/{id}/evidence.svg.
func (s *Server) evidenceImage(w http.ResponseWriter, r *http.Request) {
	v, _, err := s.lookup(r.Context(), r.PathValue("id"))
	switch {
	case err == errNoVerdict:
		writeSVG(w, http.StatusNotFound, messageSVG(evW, 80, "No such diagnosis."))
	case err != nil:
		writeSVG(w, http.StatusInternalServerError, messageSVG(evW, 80, "Reading the diagnosis failed: "+err.Error()))
	default:
		writeSVG(w, http.StatusOK, evidenceSVG(v))
	}
}
