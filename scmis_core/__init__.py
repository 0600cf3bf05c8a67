"""scmis_core: semantic RGB-D image synthesis (SCMIS) without any ROS dependency.

Models, losses, data sets, training, generation, class-mix augmentation and metrics. This
package never imports ``rclpy``; the ROS 2 layer lives in ``scmis_ros``.
"""

__version__ = "0.1.0"
