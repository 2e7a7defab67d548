"""The Better Payment half of the suites' library (harness/suite): views, requests, checks, postbacks,
scenarios, probes and fixtures of suites/betterpayment."""
