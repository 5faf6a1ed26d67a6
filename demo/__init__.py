"""`make demo`: TrailGuard against a simulated organization on moto, through template.yaml's rules."""
