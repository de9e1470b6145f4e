"""Dependent two-step requests (tests/test_agent.py DEPENDENT) and the demo's no-tool/missing-value requests on a model spec.

    .venv/bin/python docs/benchmarks/default-config/dependent.py embedded        # default: dependent 0 (of 4)
    .venv/bin/python docs/benchmarks/default-config/dependent.py embedded-base   # bare model: dependent 4 (of 4)
"""

import sys
import time

from agentslm import Agent
from agentslm.demo import demo_registry
from agentslm.models import load_model

sys.path.insert(0, ".")
from tests.test_agent import DEPENDENT, _shop

m = load_model(sys.argv[1], **({"lora_roles": tuple(sys.argv[2].split(","))} if len(sys.argv) > 2 else {}))
t=time.time()
a = Agent(m, _shop([]))
ok=0
for req, orders in DEPENDENT.items():
    run = a.run(req)
    names=[c.name for c in run.calls]; good = names[:2]==["find_user","list_orders"] and any(r.observation.value==orders for r in run.results)
    ok+=good; print(good, [(c.name, c.arguments) for c in run.calls], run.status, run.question)
print("dependent", ok)
d = Agent(m, demo_registry())
for q in ("Tell me a joke about cats.", "What's the weather?"):
    r=d.run(q); print(q, r.status, r.question)
print(time.time()-t)
