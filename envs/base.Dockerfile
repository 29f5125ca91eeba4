# What the bundled envs' images start from (FROM ${OPENENV_GYM_BASE}): a user and the core dependencies.
# build_image (and `openenv-gym build`) builds it first and passes its image id; by hand, from the
# repository root: docker build -f envs/base.Dockerfile -t openenv-gym/base .
# The docker SDK builds without BuildKit, so this file uses no BuildKit syntax. The coding image has
# the same steps in its own Dockerfile, so their layers are built and stored once.
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}
ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# 1. an unprivileged user to run the server
RUN useradd --uid 10001 --create-home --shell /usr/sbin/nologin openenv
# 2. the core dependencies, as pyproject.toml lists them
WORKDIR /src
COPY pyproject.toml ./
RUN python -c "import tomllib; print(*tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies'], sep='\n')" \
    > requirements.txt && pip install -r requirements.txt
