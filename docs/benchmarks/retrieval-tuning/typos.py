# Typo-tolerant BM25: a request word that is not in the BM25 vocabulary (and, with use_bert, not a whole word of
# MiniLM's vocabulary) is replaced by the closest vocabulary word (difflib, ratio >= cutoff). Recall@5 over every
# case of the recall categories, lexical and hybrid (untuned); mode None = no correction, else (use_bert, cutoff).
import difflib, time, sys
import numpy as np
from agentslm.bench.retrieval import bfcl_tool_pool, load_retrieval_cases, RECALL_CATEGORIES
from agentslm.retrieval import make_retriever
from agentslm.retrieval.retrievers import LexicalRetriever, EmbeddingRetriever, HybridRetriever
from agentslm.retrieval.documents import tokenize
from transformers import AutoTokenizer
from agentslm.retrieval.retrievers import embedding_model_path

pool = bfcl_tool_pool()
lex = LexicalRetriever()
bm = lex._bm25(pool)
vocab = list(bm.idf.keys())
vocab_set = set(vocab)
bert = AutoTokenizer.from_pretrained(str(embedding_model_path()))
bvocab = bert.get_vocab()
print("vocab", len(vocab))

def fix(query, use_bert=True, cutoff=0.8):
    toks = tokenize(query)
    out = []
    for t in toks:
        if t in vocab_set or len(t) < 4 or not t.isalpha() or (use_bert and t in bvocab):
            out.append(t); continue
        m = difflib.get_close_matches(t, vocab, n=1, cutoff=cutoff)
        out.append(m[0] if m else t)
    return out

def lex_scores(q, mode):
    toks = tokenize(q) if mode is None else fix(q, *mode)
    return np.asarray(bm.get_scores(toks))

emb = EmbeddingRetriever()
def rrf(a, b, w=1.0, c=60):
    f = np.zeros(len(pool))
    for wt, s in ((1.0, a), (w, b)):
        o = np.argsort(-s, kind="stable"); r = np.empty(len(pool)); r[o] = np.arange(1, len(pool)+1); f += wt/(c+r)
    return f
names = [t.name for t in pool]
idx = {n: i for i, n in enumerate(names)}
cases = load_retrieval_cases(list(RECALL_CATEGORIES), limit=None, seed=0)
print("cases", len(cases))
t0 = time.time()
E = emb.index(pool)
Q = emb.encode([rc.query for rc in cases])
print("enc", time.time()-t0)
for mode in (None, (True, 0.8), (False, 0.8), (True, 0.75)):
    t0 = time.time(); changed = 0
    res = {}
    for rc, q in zip(cases, Q):
        ls = lex_scores(rc.query, mode)
        if mode is not None and fix(rc.query, *mode) != tokenize(rc.query): changed += 1
        es = E @ q
        for kind, s in (("lex", ls), ("hyb", rrf(ls, es))):
            top5 = set(np.argsort(-s, kind="stable")[:5])
            hit = all(idx[g] in top5 for g in rc.gold) if False else np.mean([idx[g] in top5 for g in rc.gold])
            res.setdefault((kind, rc.category), []).append(hit)
    print(mode, "changed", changed, "s", round(time.time()-t0,1))
    for k in sorted(res): print("  ", k, round(float(np.mean(res[k])), 4), len(res[k]))
