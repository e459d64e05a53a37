"""One module per notebook: what it computes, plots and concludes. The notebooks stay thin."""
