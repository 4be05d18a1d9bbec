"""OpenCV as facekp imports it: with its own log lines muted (e.g. `imread_('x.jpg'): can't read
header`), so that a bad file is reported once, by facekp, in one line."""

import cv2

cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
