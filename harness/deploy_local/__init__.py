"""`make deploy-local`: the real deploy path, rehearsed on moto server.

sam build -> sam package (to a bucket on the local endpoint) -> the SAM transform (aws-sam-translator)
-> CloudFormation CreateStack of the central stack in a central account -> templates/member.yaml, from the
URL `sam package` wrote into the StackSet, in a member account -> checks of every created resource against
the templates -> the deployed handler code run against the deployed resources: the trail function on a
member's event, then one sweep (the planner, then the sweep queue's messages to the workers, as Lambda's
SQS event source delivers them). Each check prints OK or FAIL; the run exits non-zero on any FAIL. The
server is stopped whatever happens.

What moto accepts but does not create (alarms, the Scheduler schedule, resource policies, invoke configs,
the StackSet) is listed as not checked. See README "Rehearsing the deploy".
"""
