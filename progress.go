package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/term"
)

// progress shows a counter on stderr during long scans, only when stderr is
// a terminal (never in pipes, logs or tests).
type progress struct {
	w     io.Writer
	label string
	on    bool
	n     int
	last  time.Time
}

func newProgress(w io.Writer, label string) *progress {
	f, ok := w.(*os.File)
	return &progress{w: w, label: label, on: ok && term.IsTerminal(int(f.Fd()))}
}

func (p *progress) tick() {
	p.n++
	if !p.on || p.n%1000 != 0 {
		return
	}
	if now := time.Now(); now.Sub(p.last) > 200*time.Millisecond {
		p.last = now
		fmt.Fprintf(p.w, "\r%s: %d sessions", p.label, p.n)
	}
}

func (p *progress) done() {
	if p.on && !p.last.IsZero() {
		fmt.Fprint(p.w, "\r\033[K") // erase the counter line
	}
}
