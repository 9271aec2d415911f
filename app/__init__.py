"""The hgpose desktop app (PyQt6): live pose overlay, playback controls, recording and joint angles.

Layering: ``app`` imports ``engine``, never the reverse. Threads: a capture thread
(:mod:`app.capture`) feeds a latest-frame slot (:mod:`app.frame_slot`), an inference thread
(:mod:`app.inference_worker`) owns the backend, the pipeline and the recorder, and the UI thread
(:mod:`app.main_window`) only draws.
"""
