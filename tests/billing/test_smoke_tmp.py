from datetime import date
from tests.billing.conftest import build_net, FINANCE
from billing.invoicing import run_month, issue_month
def test_smoke(session, people):
    n = build_net(session)
    a = n.lease(people.orgs["op_a"].id, "RS-T-AB", date(2026,1,1), None)
    print(run_month(session, month=date(2026,3,1), actor=FINANCE))
    print(issue_month(session, month=date(2026,3,1), actor=FINANCE, issued_on=date(2026,4,1)))
