"""tests/e2e's harness (Aiond, free_port, ...) under its own module name:
this folder has a conftest.py too, so `import conftest` here means ours.
tests/e2e/kafka_broker.py does `from conftest import free_port`, which our
conftest re-exports."""
import importlib.util
import sys
from pathlib import Path

E2E = Path(__file__).resolve().parents[1] / "e2e"
if str(E2E) not in sys.path:
    sys.path.insert(0, str(E2E))
if "aion_e2e_conftest" in sys.modules:
    harness = sys.modules["aion_e2e_conftest"]
else:
    _spec = importlib.util.spec_from_file_location("aion_e2e_conftest", E2E / "conftest.py")
    harness = importlib.util.module_from_spec(_spec)
    sys.modules["aion_e2e_conftest"] = harness
    _spec.loader.exec_module(harness)
