"""The contract suite's engine: schemathesis schemas, generated and cached cases, realistic data, the case
sender over the project's API clients, stateful chains, the tests' order and their counts (ARCHITECTURE.md has
the table of modules). The suite itself, test modules and a conftest, is suites/contract/."""
