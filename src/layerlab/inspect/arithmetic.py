"""The course's size arithmetic, where `layerlab.inspect` users look for it.

It lives in `layerlab.arithmetic`, outside this package, because importing any module of
`layerlab.inspect` runs its `__init__`, which imports torch; the arithmetic needs none, so
`layerlab explain conv-size 7 3 1 0` answers without it.
"""

from layerlab.arithmetic import *  # noqa: F401,F403
