from agentslm.bench.retrieval import bfcl_tool_pool, load_retrieval_cases
from agentslm.retrieval import make_retriever
pool = bfcl_tool_pool()
r = make_retriever("hybrid", adapter="training/runs/retriever-bfcl/adapter.npz")
for rc in load_retrieval_cases(["live_multiple"], limit=100, seed=0):
    ranked = [t.name for t, _ in r.rank(rc.query, pool)]
    for g in rc.gold:
        if g not in ranked[:5]:
            print(rc.case.id, g, "rank", ranked.index(g) + 1, "top:", ranked[:3], "|", rc.query[:110].replace("\n", " "))
