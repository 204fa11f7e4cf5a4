// Command report prints the rows the reliability campaigns appended to a
// report file (SESSIONFS_STRESS_REPORT) as one aligned table, and exits 1
// when a campaign found a problem or failed, or when the file holds no row.
//
//	go run ./integration/campaign/report FILE
package main

import (
	"bufio"
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/sessionfs/sessionfs/integration/campaign"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: report FILE")
		os.Exit(2)
	}
	if err := run(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
}

func run(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("opening the campaign report: %w", err)
	}
	defer f.Close()
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, campaign.Header)
	var rows, bad int
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		r, err := campaign.ParseRow(sc.Text())
		if err != nil {
			return err
		}
		rows++
		if r.Problems != 0 || !r.Passed {
			bad++
		}
		fmt.Fprintln(w, sc.Text())
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	switch {
	case rows == 0:
		return fmt.Errorf("%s holds no campaign rows (did the tests run?)", path)
	case bad > 0:
		return fmt.Errorf("%d of %d campaigns found problems or failed", bad, rows)
	}
	return nil
}
