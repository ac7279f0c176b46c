"""Run inside the Superset venv, with SUPERSET_CONFIG_PATH set: points the
imported database at argv[1] (a clickhousedb:// URI) and lists what the import
created, then asks ClickHouse for its version through Superset's own driver
(clickhouse-connect). Prints JSON: {"dashboards", "charts": {name: dataset},
"datasets", "driver": {"ok": bool, "error": str}}."""
import json
import sys

from superset.app import create_app

app = create_app()
with app.app_context():
    from superset.extensions import db
    from superset.models.core import Database
    from superset.models.dashboard import Dashboard
    from superset.models.slice import Slice
    from superset.connectors.sqla.models import SqlaTable

    database = db.session.query(Database).one()
    database.sqlalchemy_uri = sys.argv[1]
    db.session.commit()
    out = {"dashboards": [d.dashboard_title for d in db.session.query(Dashboard)],
           "dashboard_charts": {d.dashboard_title: sorted(s.slice_name for s in d.slices)
                                for d in db.session.query(Dashboard)},
           "charts": {s.slice_name: s.datasource.table_name for s in db.session.query(Slice)},
           "datasets": {t.table_name: t.sql for t in db.session.query(SqlaTable)}}
    try:
        rows = database.get_df("SELECT version() AS v", "aion").to_dict("records")
        out["driver"] = {"ok": True, "version": rows[0]["v"]}
    except Exception as e:  # the point: say exactly what fails
        out["driver"] = {"ok": False, "error": str(e).splitlines()[0][:600]}
    print(json.dumps(out))
