"""Layer 5, applications: the domain case studies built from the layers below (ECG screening, anomaly alarms,
lidar driving).

Imports techniques and below; never the face.
"""
