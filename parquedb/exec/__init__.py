"""Read planning and write plans, and the session seam through which every read and commit goes."""
