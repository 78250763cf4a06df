"""A real scikit-learn model behind a real starlette app (served by uvicorn in tests)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass
class ModelState:
    """Switches a test flips while the app serves."""

    broken: bool = False
    counts: dict[str, int] = field(default_factory=dict)


def iris_split() -> tuple[Any, Any, Any, Any]:
    from sklearn.datasets import load_iris
    from sklearn.model_selection import train_test_split

    x, y = load_iris(return_X_y=True)
    return train_test_split(x, y, test_size=50, random_state=0, stratify=y)  # type: ignore[no-any-return]


def diabetes_split() -> tuple[Any, Any, Any, Any]:
    from sklearn.datasets import load_diabetes
    from sklearn.model_selection import train_test_split

    x, y = load_diabetes(return_X_y=True)
    return train_test_split(x, y, test_size=40, random_state=0)  # type: ignore[no-any-return]


def model_app(classifier: Any, regressor: Any, state: ModelState) -> Any:
    """``/predict`` (classifier), ``/regress`` (regressor), ``/faulty`` (silent failures:
    rows with ``row % 5`` 0 -> NaN, 1 -> a list, 2 -> key missing)."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    async def predict(request: Request) -> Response:
        doc = await request.json()
        label = 0 if state.broken else int(classifier.predict([doc["features"]])[0])
        return JSONResponse({"prediction": label})

    async def regress(request: Request) -> Response:
        doc = await request.json()
        return JSONResponse({"y": float(regressor.predict([doc["features"]])[0])})

    async def faulty(request: Request) -> Response:
        doc = await request.json()
        label = int(classifier.predict([doc["features"]])[0])
        kind = doc["row"] % 5
        if kind == 0:  # JSONResponse refuses NaN, a sloppy server does not
            return Response('{"prediction": NaN}', media_type="application/json")
        if kind == 1:
            return JSONResponse({"prediction": [label]})
        if kind == 2:
            return JSONResponse({"label": label})
        return JSONResponse({"prediction": label})

    return Starlette(
        routes=[
            Route("/predict", predict, methods=["POST"]),
            Route("/regress", regress, methods=["POST"]),
            Route("/faulty", faulty, methods=["POST"]),
        ]
    )


def write_jsonl(path: Any, x: Any, y: Any, with_row: bool = False) -> None:
    """One labelled request per line: {"features": [...], "expected": label}."""
    with open(path, "w") as f:
        for i, (features, label) in enumerate(zip(x, y, strict=True)):
            doc: dict[str, Any] = {"features": [float(v) for v in features]}
            if with_row:
                doc["row"] = i
            doc["expected"] = label.item() if hasattr(label, "item") else label
            f.write(json.dumps(doc) + "\n")
