"""Distribution over xdist workers: the barrier scheduler, and the ``--tx`` nodes."""
