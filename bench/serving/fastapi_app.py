"""The guide's Step 4 server (FastAPI + pandas + a pickled scikit-learn model), as close to the
guide as the churn data allows: the request carries categorical features as strings, so
`features` is dict[str, float | str] and the pickled model is a Pipeline (OneHotEncoder on the
string columns, then GradientBoostingClassifier). Run: MODEL=model.pkl uvicorn fastapi_app:app
"""

import os
import pickle
import time
from contextlib import asynccontextmanager

import pandas as pd
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel


class PredictionRequest(BaseModel):
    customer_id: str
    features: dict[str, float | str]


class PredictionResponse(BaseModel):
    customer_id: str
    prediction: int
    probability: float
    model_version: str
    latency_ms: float


model_store = {}


@asynccontextmanager
async def lifespan(app: FastAPI):
    with open(os.environ["MODEL"], "rb") as f:
        model_store["model"] = pickle.load(f)
    model_store["version"] = "production"
    yield
    model_store.clear()


app = FastAPI(title="Churn Prediction API", lifespan=lifespan)


@app.post("/predict", response_model=PredictionResponse)
async def predict(request: PredictionRequest):
    start_time = time.time()
    model = model_store.get("model")
    if not model:
        raise HTTPException(status_code=503, detail="Model not loaded")
    features_df = pd.DataFrame([request.features])
    prediction = int(model.predict(features_df)[0])
    probability = float(model.predict_proba(features_df)[0][1])
    latency_ms = (time.time() - start_time) * 1000
    return PredictionResponse(
        customer_id=request.customer_id,
        prediction=prediction,
        probability=probability,
        model_version=model_store["version"],
        latency_ms=round(latency_ms, 2),
    )


@app.get("/health")
async def health():
    return {"status": "healthy", "model_loaded": "model" in model_store, "model_version": model_store.get("version", "none")}
