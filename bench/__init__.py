"""`make bench-peers`: TrailGuard beside Cloud Custodian and Prowler on one simulated organization.

`peer_org` builds the organization on a moto server and knows the ground truth of every trail;
`peers` runs each tool against it and turns its output into verdicts; `compare` sets the verdicts side
by side and explains each disagreement; `coldstart_peers` times Custodian's Lambda cold import.
Everything but the runners and the organization builder is pure, so the unit tests need no peer installed.
"""
