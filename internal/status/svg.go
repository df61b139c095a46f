package status

import (
	"encoding/xml"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"
)

// svgWriter builds an SVG document. Every text and attribute value goes
// through esc, so a name holding "</svg>" or "<script>" stays text.
type svgWriter struct{ b strings.Builder }

// esc is s escaped for XML text and attribute values; characters XML
// cannot hold become U+FFFD.
func esc(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s)) // writes to a Builder: never fails
	return b.String()
}

// clip shortens s to at most n runes, ending in "…" when cut, so that a
// 255-byte name cannot run out of its box.
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

func px(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) }

func (w *svgWriter) open(width, height int, label string) {
	w.b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	w.b.WriteString(`<svg xmlns="http://www.w3.org/2000/svg" width="` + strconv.Itoa(width) + `" height="` + strconv.Itoa(height) +
		`" viewBox="0 0 ` + strconv.Itoa(width) + " " + strconv.Itoa(height) + `" role="img" aria-label="` + esc(label) +
		`" font-family="system-ui, sans-serif" font-size="12">` + "\n")
	w.b.WriteString(`<title>` + esc(label) + `</title>` + "\n")
	w.rect(0, 0, float64(width), float64(height), "#ffffff", "", "")
}

// rect draws a box; stroke and tip may be empty, tip is its tooltip.
func (w *svgWriter) rect(x, y, width, height float64, fill, stroke, tip string) {
	w.b.WriteString(`<rect x="` + px(x) + `" y="` + px(y) + `" width="` + px(width) + `" height="` + px(height) +
		`" fill="` + esc(fill) + `"`)
	if stroke != "" {
		w.b.WriteString(` stroke="` + esc(stroke) + `" rx="4"`)
	}
	if tip == "" {
		w.b.WriteString("/>\n")
		return
	}
	w.b.WriteString("><title>" + esc(tip) + "</title></rect>\n")
}

// text writes s at x, y; anchor is start, middle or end.
func (w *svgWriter) text(x, y float64, anchor, fill, weight, s string) {
	w.b.WriteString(`<text x="` + px(x) + `" y="` + px(y) + `" text-anchor="` + anchor + `" fill="` + esc(fill) + `"`)
	if weight != "" {
		w.b.WriteString(` font-weight="` + weight + `"`)
	}
	w.b.WriteString(">" + esc(s) + "</text>\n")
}

func (w *svgWriter) line(x1, y1, x2, y2 float64, stroke string) {
	w.b.WriteString(`<line x1="` + px(x1) + `" y1="` + px(y1) + `" x2="` + px(x2) + `" y2="` + px(y2) +
		`" stroke="` + esc(stroke) + `"/>` + "\n")
}

func (w *svgWriter) close() []byte {
	w.b.WriteString("</svg>\n")
	return []byte(w.b.String())
}

// writeSVG answers with an SVG document.
func writeSVG(w http.ResponseWriter, code int, body []byte) {
	w.Header().Set("Content-Type", "image/svg+xml")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	w.Write(body)
}

// messageSVG is a small SVG that says msg, for an image that has nothing
// else to show.
func messageSVG(width, height int, msg string) []byte {
	var w svgWriter
	w.open(width, height, msg)
	w.text(float64(width)/2, float64(height)/2, "middle", "#5f6368", "", msg)
	return w.close()
}
