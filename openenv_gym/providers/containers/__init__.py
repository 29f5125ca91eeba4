"""What the Docker and Swarm providers share: the engine client and cleanup (:mod:`.engine`), images
built from an environment's Dockerfile (:mod:`.images`) and their build context
(:mod:`.context`), and the options of a container whose server sandboxes its sessions
(:mod:`.sandboxing`).
"""
