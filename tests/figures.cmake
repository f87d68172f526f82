# Figures (issue 8): `strata figures` against h5py (every number drawn), PIL (PNGs decode, right
# size, not blank), pdftoppm (PDFs open), and the behaviour without gnuplot / without metrics.
foreach(case render no_gnuplot missing options bad_input demo)
  strata_py_test(figures_${case} figures/test_figures.py ${case})
endforeach()
