"""Files `paycert init` writes into a team's repository (package data; see harness.scaffold)."""
