"""The bundled environments; each folder is servable on its own
(``python -m openenv_gym.envs.<name>``, ``uvicorn openenv_gym.envs.<name>.app:app``)."""
