package main

import (
	"fmt"
	"image/color"
	"path/filepath"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/lbkit/lbkit/sim"
)

// writePlots draws the report's three plots into dir, each as SVG and
// PNG: request skew over time, the latency CDF, and the keys each
// endpoint update moved. A plot with nothing to show is left out.
func writePlots(dir string, rep *sim.Report) error {
	plots := []struct {
		name string
		make func(*sim.Report) (*plot.Plot, error)
	}{
		{"skew", skewPlot},
		{"latency-cdf", latencyPlot},
		{"disruption", disruptionPlot},
	}
	for _, pl := range plots {
		p, err := pl.make(rep)
		if err != nil {
			return fmt.Errorf("%s: %w", pl.name, err)
		}
		if p == nil {
			continue
		}
		for _, ext := range []string{".svg", ".png"} {
			if err := p.Save(10*vg.Inch, 6*vg.Inch, filepath.Join(dir, pl.name+ext)); err != nil {
				return fmt.Errorf("%s%s: %w", pl.name, ext, err)
			}
		}
	}
	return nil
}

func newPlot(title, x, y string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = x
	p.Y.Label.Text = y
	p.Legend.Top = true
	p.Add(plotter.NewGrid())
	return p
}

// addLines adds one line an algorithm, in its own colour and dash, with
// the points points returns for it; algorithms without points are left
// out. It reports whether it drew any line.
func addLines(p *plot.Plot, rep *sim.Report, points func(*sim.Result) plotter.XYs) (bool, error) {
	drew := false
	for i, r := range rep.Results {
		pts := points(r)
		if len(pts) == 0 {
			continue
		}
		l, err := plotter.NewLine(pts)
		if err != nil {
			return false, err
		}
		l.Color = plotutil.Color(i)
		l.Dashes = plotutil.Dashes(i / 7)
		l.Width = vg.Points(1.2)
		p.Add(l)
		p.Legend.Add(r.Algorithm, l)
		drew = true
	}
	return drew, nil
}

// timeAxis returns the unit the report's time axis reads best in, and
// its length in seconds: seconds up to 5 minutes, then minutes, hours
// and days.
func timeAxis(rep *sim.Report) (string, float64) {
	switch d := rep.Duration.Std(); {
	case d <= 5*time.Minute:
		return "s", 1
	case d <= 5*time.Hour:
		return "min", 60
	case d <= 5*24*time.Hour:
		return "h", 3600
	default:
		return "days", 86400
	}
}

func skewPlot(rep *sim.Report) (*plot.Plot, error) {
	unit, per := timeAxis(rep)
	p := newPlot(rep.Scenario+": request skew per window", "time ("+unit+")", "busiest pod's requests / mean")
	_, err := addLines(p, rep, func(r *sim.Result) plotter.XYs {
		var pts plotter.XYs
		for _, w := range r.Windows {
			// A window cut short by the end of the run holds too few
			// requests to say anything of skew: leave it out.
			if w.Pods > 0 && w.RequestSkew.PeakToMean > 0 && !w.Short {
				pts = append(pts, plotter.XY{X: w.Start.Std().Seconds() / per, Y: w.RequestSkew.PeakToMean})
			}
		}
		return pts
	})
	return p, err
}

func latencyPlot(rep *sim.Report) (*plot.Plot, error) {
	p := newPlot(rep.Scenario+": request latency CDF", "latency (ms, log scale)", "fraction of requests")
	bounded := false
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	drew, err := addLines(p, rep, func(r *sim.Result) plotter.XYs {
		var pts plotter.XYs
		for _, q := range r.LatencyCDF {
			if q.AtLeast {
				bounded = true
				break // from here on, unfinished requests make it a lower bound
			}
			if ms := float64(q.Latency) / 1e6; ms > 0 {
				pts = append(pts, plotter.XY{X: ms, Y: q.Q})
			}
		}
		return pts
	})
	if !drew {
		return nil, err
	}
	if bounded {
		p.Title.Text += " (a line ends where unfinished requests leave only a lower bound)"
	}
	return p, err
}

// disruptionPlot draws, for proxy 0, the fraction of keys each endpoint
// update moved, with the optimum of the first algorithm's updates as
// crosses (each run has its own timeline, the churn being the same).
func disruptionPlot(rep *sim.Report) (*plot.Plot, error) {
	unit, per := timeAxis(rep)
	p := newPlot(rep.Scenario+": keys remapped at each endpoint update (proxy 0)", "time ("+unit+")", "fraction of keys moved")
	var optimum plotter.XYs
	drew, err := addLines(p, rep, func(r *sim.Result) plotter.XYs {
		var pts plotter.XYs
		first := len(optimum) == 0
		for _, e := range r.Events {
			if e.Proxy == 0 {
				pts = append(pts, plotter.XY{X: e.At.Std().Seconds() / per, Y: e.KeysMoved})
				if first {
					optimum = append(optimum, plotter.XY{X: e.At.Std().Seconds() / per, Y: e.Optimum})
				}
			}
		}
		return pts
	})
	if !drew || err != nil {
		return nil, err
	}
	s, err := plotter.NewScatter(optimum)
	if err != nil {
		return nil, err
	}
	s.Color = color.Black
	s.Shape = draw.CrossGlyph{}
	p.Add(s)
	p.Legend.Add("optimum", s)
	return p, nil
}
