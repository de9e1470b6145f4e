import json, numpy as np, pickle
import os; os.makedirs("/tmp/exp", exist_ok=True)
from agentslm.bench.retrieval import bfcl_tool_pool, load_retrieval_cases, POOL_CATEGORIES, gold_names, RetrievalCase
from agentslm.bench.bfcl_data import load_bfcl
from agentslm.retrieval.retrievers import EmbeddingRetriever, LexicalRetriever
pool = bfcl_tool_pool()
names = [t.name for t in pool]
emb = EmbeddingRetriever()
T = emb.index(pool)
evalc = load_retrieval_cases(["multiple","live_multiple","simple_python"], limit=100, seed=0)
eval_ids = {rc.case.id for rc in evalc}
allc = []
for cat in POOL_CATEGORIES:
    for c in load_bfcl(cat):
        g = gold_names(c)
        if g: allc.append(RetrievalCase(cat, c, g))
train = [rc for rc in allc if rc.case.id not in eval_ids]
print(len(pool), len(evalc), len(allc), len(train))
Qe = emb.encode([rc.query for rc in evalc]); Qt = emb.encode([rc.query for rc in train])
lex = LexicalRetriever()
Le = np.stack([lex.scores(rc.query, pool) for rc in evalc])
pickle.dump(dict(names=names, T=T, Qe=Qe, Qt=Qt, Le=Le,
  ev=[(rc.category, rc.case.id, rc.gold, rc.query) for rc in evalc],
  tr=[(rc.category, rc.case.id, rc.gold, rc.query) for rc in train]), open("/tmp/exp/data.pkl","wb"))
