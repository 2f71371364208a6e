"""implicit's side of the ALS benchmark (run.sh): the whole process, as a
user would write it, on the same plays file `timbral train --no-content`
reads. Reads the TSV (pandas' C parser), maps ids, builds the user x item
CSR with Timbral's confidence 1 + alpha * ln(1 + plays), fits
implicit.cpu.als with the same factors, regularization, iterations and
threads, and prints the phases' seconds as one JSON line.
"""

import argparse
import json
import time

t0 = time.perf_counter()
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import scipy.sparse as sp  # noqa: E402
from implicit.cpu.als import AlternatingLeastSquares  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("plays")
ap.add_argument("--factors", type=int, default=64)
ap.add_argument("--iterations", type=int, default=15)
ap.add_argument("--regularization", type=float, default=80.0)
ap.add_argument("--alpha", type=float, default=3.0)
ap.add_argument("--cg-steps", type=int, default=3)
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--out", help="item factors as .npy (what a bundle would hold)")
a = ap.parse_args()

t_import = time.perf_counter()
df = pd.read_csv(a.plays, sep="\t", usecols=["user", "item", "plays"], dtype={"user": str, "item": str, "plays": np.float32})
users, u = np.unique(df["user"].to_numpy(), return_inverse=True)
items, i = np.unique(df["item"].to_numpy(), return_inverse=True)
conf = (1.0 + a.alpha * np.log1p(np.maximum(df["plays"].to_numpy(), 0))).astype(np.float32)
m = sp.csr_matrix((conf, (u, i)), shape=(len(users), len(items)), dtype=np.float32)
m.sum_duplicates()
t_read = time.perf_counter()

with threadpool_limits(1, "blas"):
    model = AlternatingLeastSquares(
        factors=a.factors,
        regularization=a.regularization,
        alpha=1.0,  # the confidence above already holds Timbral's alpha
        iterations=a.iterations,
        use_cg=True,
        calculate_training_loss=False,
        num_threads=a.threads,
        random_state=42,
    )
    model.cg_steps = a.cg_steps  # not a constructor argument in 0.7
    model.fit(m, show_progress=False)
t_fit = time.perf_counter()
if a.out:
    np.save(a.out, model.item_factors)
t_end = time.perf_counter()
print(json.dumps({
    "tool": "implicit", "version": __import__("implicit").__version__,
    "users": int(m.shape[0]), "items": int(m.shape[1]), "plays": int(m.nnz),
    "import_s": t_import - t0, "read_s": t_read - t_import, "fit_s": t_fit - t_read,
    "per_iteration_s": (t_fit - t_read) / a.iterations, "write_s": t_end - t_fit,
}))
