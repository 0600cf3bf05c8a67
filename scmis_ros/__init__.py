"""scmis_ros: thin rclpy nodes and rosbag tools over scmis_core (no model logic here)."""
