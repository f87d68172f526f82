# Inputs (issue 4, image half): decode, preprocessing, manifests; mkdata (issue 5).
# test_pixels spawns strata and compares with PIL live and transformers fixtures (nosanitize:
# the Python side cannot load ASan'd code, and it runs the strata binary ~700 times).
strata_py_test(image_pixels image/test_pixels.py)
set_tests_properties(image_pixels PROPERTIES LABELS nosanitize)
strata_test(test_image_inputs image/test_image_inputs.c)
