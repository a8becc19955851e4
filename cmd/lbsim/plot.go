package main

import (
	"fmt"
	"image/color"
	"path/filepath"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/lbkit/lbkit/sim"
)

// writePlots draws the report's three plots as SVG into dir: request skew
// over time, the latency CDF, and the keys each endpoint update moved.
func writePlots(dir string, rep *sim.Report) error {
	plots := []struct {
		name string
		make func(*sim.Report) (*plot.Plot, error)
	}{
		{"skew.svg", skewPlot},
		{"skew.png", skewPlot},
		{"latency-cdf.png", latencyPlot},
		{"disruption.png", disruptionPlot},
		{"latency-cdf.svg", latencyPlot},
		{"disruption.svg", disruptionPlot},
	}
	for _, pl := range plots {
		p, err := pl.make(rep)
		if err != nil {
			return fmt.Errorf("%s: %w", pl.name, err)
		}
		if p == nil {
			continue
		}
		if err := p.Save(10*vg.Inch, 6*vg.Inch, filepath.Join(dir, pl.name)); err != nil {
			return fmt.Errorf("%s: %w", pl.name, err)
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

// addLine adds one algorithm's line in its own colour and dash.
func addLine(p *plot.Plot, i int, name string, pts plotter.XYs) error {
	l, err := plotter.NewLine(pts)
	if err != nil {
		return err
	}
	l.Color = plotutil.Color(i)
	l.Dashes = plotutil.Dashes(i / 7)
	l.Width = vg.Points(1.2)
	p.Add(l)
	p.Legend.Add(name, l)
	return nil
}

func skewPlot(rep *sim.Report) (*plot.Plot, error) {
	p := newPlot(rep.Scenario+": request skew per window", "time (s)", "busiest pod's requests / mean")
	for i, r := range rep.Results {
		var pts plotter.XYs
		for _, w := range r.Windows {
			if w.Pods > 0 && w.RequestSkew.PeakToMean > 0 {
				pts = append(pts, plotter.XY{X: w.Start.Std().Seconds(), Y: w.RequestSkew.PeakToMean})
			}
		}
		if len(pts) == 0 {
			continue
		}
		if err := addLine(p, i, r.Algorithm, pts); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func latencyPlot(rep *sim.Report) (*plot.Plot, error) {
	p := newPlot(rep.Scenario+": request latency CDF", "latency (ms, log scale)", "fraction of requests")
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	any := false
	for i, r := range rep.Results {
		var pts plotter.XYs
		for _, q := range r.LatencyCDF {
			if ms := float64(q.Latency) / 1e6; ms > 0 {
				pts = append(pts, plotter.XY{X: ms, Y: q.Q})
			}
		}
		if len(pts) == 0 {
			continue
		}
		any = true
		if err := addLine(p, i, r.Algorithm, pts); err != nil {
			return nil, err
		}
	}
	if !any {
		return nil, nil
	}
	return p, nil
}

func disruptionPlot(rep *sim.Report) (*plot.Plot, error) {
	p := newPlot(rep.Scenario+": keys remapped at each endpoint update (proxy 0)", "time (s)", "fraction of keys moved")
	any := false
	for i, r := range rep.Results {
		var pts, opt plotter.XYs
		for _, e := range r.Events {
			if e.Proxy == 0 {
				pts = append(pts, plotter.XY{X: e.At.Std().Seconds(), Y: e.KeysMoved})
				opt = append(opt, plotter.XY{X: e.At.Std().Seconds(), Y: e.Optimum})
			}
		}
		if len(pts) == 0 {
			continue
		}
		if !any {
			s, err := plotter.NewScatter(opt)
			if err != nil {
				return nil, err
			}
			s.Color = color.Black
			s.Shape = plotutilShape()
			p.Add(s)
			p.Legend.Add("optimum", s)
			any = true
		}
		if err := addLine(p, i, r.Algorithm, pts); err != nil {
			return nil, err
		}
	}
	if !any {
		return nil, nil
	}
	return p, nil
}

func plotutilShape() draw.GlyphDrawer { return draw.CrossGlyph{} }
