# syntax=docker/dockerfile:1
# newsmon production image: the official Airflow image plus the newsmon package, its DAGs and its
# shipped configuration. Build: docker compose build (or docker build -t newsmon-airflow .).
#
# Keep the tag in step with the apache-airflow pin in pyproject.toml ([project.optional-dependencies]
# airflow); tests/unit/test_artifacts.py checks that they agree.
FROM apache/airflow:3.3.2-python3.11

# Source goes to its own directory owned by the airflow user: pip builds the wheel in-tree.
COPY --chown=airflow:0 pyproject.toml README.md /opt/newsmon/src/
COPY --chown=airflow:0 monitor /opt/newsmon/src/monitor

# Naming apache-airflow==$AIRFLOW_VERSION (set by the base image) stops pip from up- or
# downgrading the Airflow the image was built and tested with while it resolves newsmon's deps.
RUN pip install --no-cache-dir "apache-airflow==${AIRFLOW_VERSION}" "/opt/newsmon/src[airflow,celery]"

# The simple auth manager's passwords file lives in the named volume mounted here; Docker seeds
# a new named volume with this directory, so it is owned by the airflow user (uid 50000).
RUN mkdir -p /opt/airflow/auth && chmod 0770 /opt/airflow/auth

COPY --chown=airflow:0 dags/ /opt/airflow/dags/
# config/ brings feeds.yaml and topics.yaml. The index templates and Kibana objects are package
# data of the wheel installed above (monitor/resources/); .dockerignore keeps config/'s symlinks
# to them out of the image, where they would dangle.
COPY --chown=airflow:0 config/ /opt/newsmon/config/

# Service addresses and secrets come from Airflow Connections (AIRFLOW_CONN_*) or NEWSMON_*
# variables at run time, never from files baked into the image.
ENV NEWSMON_CONFIG_DIR=/opt/newsmon/config \
    AIRFLOW__CORE__LOAD_EXAMPLES=False

# The DAG files must parse in this image, and the installed package must find its own files
# (index templates, Kibana objects): fail the build, not the scheduler or `newsmon init`.
RUN python -c "from airflow.dag_processing.dagbag import DagBag; \
b = DagBag(dag_folder='/opt/airflow/dags'); \
assert not b.import_errors, b.import_errors; \
assert len(b.dags) == 4, sorted(b.dags); print('DAGs:', ', '.join(sorted(b.dags)))" \
 && python -c "import monitor.resources as r; \
[r.index_template(k) for k in r.INDEX_TEMPLATE_KINDS]; r.kibana_saved_objects()" \
 && newsmon --version && python -m monitor --help >/dev/null
