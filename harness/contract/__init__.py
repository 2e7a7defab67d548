"""The contract suite's engine: generated cases and their cache (cases), and the transport that sends them
through the project's API clients (transport). The suite itself is suites/contract/."""
