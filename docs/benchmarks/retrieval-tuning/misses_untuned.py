import numpy as np, collections
from agentslm.bench.retrieval import bfcl_tool_pool, load_retrieval_cases
from agentslm.retrieval.retrievers import LexicalRetriever, EmbeddingRetriever, HybridRetriever
from agentslm.retrieval.documents import tool_document
pool = bfcl_tool_pool(); names=[t.name for t in pool]; byname={t.name:t for t in pool}
h = HybridRetriever(LexicalRetriever(), EmbeddingRetriever())
cases = load_retrieval_cases(["live_multiple"], limit=None, seed=0)
miss=[]
for rc in cases:
    ranked=[t.name for t,_ in h.rank(rc.query, pool)]
    for g in rc.gold:
        if g not in ranked[:5]: miss.append((rc.case.id, g, ranked.index(g)+1, ranked[:3], rc.query[:150].replace("\n"," "), len(tool_document(byname[g]))))
print(len(miss))
for m in miss: print(m)
