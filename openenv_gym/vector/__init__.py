"""The vector orchestration: a vector environment's N sessions as groups (:mod:`.groups`: batched
on one connection to one of our servers, or one connection each), pooled and spread over servers
(:mod:`.pool`). Which provider opens them, the way ``gym.make_vec``'s options say:
:mod:`openenv_gym.providers.opening`.
"""
