"""Fit the guide's model on Slipway's churn training table and pickle it; print one request body."""

import json
import pickle
import sys

import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

data, out, body_out = sys.argv[1], sys.argv[2], sys.argv[3]
df = pd.read_parquet(data)
y = df.pop("churn").astype(int)
df = df.drop(columns=["customer_id"])
cats = [c for c in df.columns if df[c].dtype == object or str(df[c].dtype).startswith(("string", "category"))]
model = Pipeline([
    ("prep", ColumnTransformer([
        ("cat", OneHotEncoder(handle_unknown="ignore"), cats),
        ("num", SimpleImputer(strategy="median"), [c for c in df.columns if c not in cats]),
    ])),
    ("gbc", GradientBoostingClassifier(n_estimators=100, max_depth=3, learning_rate=0.1, random_state=42)),
]).fit(df, y)
with open(out, "wb") as f:
    pickle.dump(model, f)
row = df.dropna().iloc[0].to_dict()
row = {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
with open(body_out, "w") as f:
    json.dump({"customer_id": "C1", "features": row}, f)
