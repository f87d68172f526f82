# Foundation: error helpers, sha256, the CLI's basic contract.
strata_test(test_common test_common.c)
add_test(NAME cli_help COMMAND strata --help)
strata_set_env(cli_help)
add_test(NAME cli_unknown_command COMMAND strata no-such-command)
strata_set_env(cli_unknown_command)
set_tests_properties(cli_unknown_command PROPERTIES WILL_FAIL TRUE)
