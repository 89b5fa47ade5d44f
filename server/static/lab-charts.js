// The lab charts: per-second windows of a run, drawn with uPlot.
