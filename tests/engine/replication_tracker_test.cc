// R6 on the primary: the global checkpoint over the in-sync set
// (ReplicationTracker).
#include "node/engine/replication_tracker.h"

#include "gtest/gtest.h"

namespace seqsim {
namespace {

TEST(R6ReplicationTracker, GlobalCheckpointIsMinimumOverInSyncCopies) {
  ReplicationTracker tracker("node-1");
  tracker.SetInSync({"node-1", "node-2", "node-3"});
  tracker.UpdateLocalCheckpoint("node-1", 10);
  tracker.UpdateLocalCheckpoint("node-2", 7);
  EXPECT_EQ(tracker.GlobalCheckpoint(), -1);  // node-3 unknown: holds it back
  tracker.UpdateLocalCheckpoint("node-3", 9);
  EXPECT_EQ(tracker.GlobalCheckpoint(), 7);
  tracker.UpdateLocalCheckpoint("node-2", 12);
  EXPECT_EQ(tracker.GlobalCheckpoint(), 9);
}

TEST(R6ReplicationTracker, GlobalCheckpointNeverRegresses) {
  ReplicationTracker tracker("node-1");
  tracker.SetInSync({"node-2"});
  tracker.UpdateLocalCheckpoint("node-1", 5);
  tracker.UpdateLocalCheckpoint("node-2", 5);
  EXPECT_EQ(tracker.GlobalCheckpoint(), 5);
  tracker.SetInSync(
      {"node-2", "node-3"});  // node-3 arrives with an unknown checkpoint
  EXPECT_EQ(tracker.GlobalCheckpoint(), 5);
  tracker.UpdateLocalCheckpoint("node-2", 3);  // a regression is ignored
  EXPECT_EQ(tracker.LocalCheckpointOf("node-2"), 5);
}

TEST(R6ReplicationTracker,
     RecoveringCopyReceivesWritesButDoesNotHoldBackCheckpoint) {
  ReplicationTracker tracker("node-1");
  tracker.SetInSync({"node-1", "node-2"});
  tracker.AddTracking("node-3", -1);
  EXPECT_TRUE(tracker.IsTracked("node-3"));
  EXPECT_FALSE(tracker.IsInSync("node-3"));
  EXPECT_EQ(tracker.ReplicationTargets(),
            (std::vector<std::string>{"node-2", "node-3"}));
  EXPECT_EQ(tracker.InSyncReplicas(), (std::vector<std::string>{"node-2"}));
  tracker.UpdateLocalCheckpoint("node-1", 4);
  tracker.UpdateLocalCheckpoint("node-2", 4);
  EXPECT_EQ(tracker.GlobalCheckpoint(), 4);
  tracker.UpdateLocalCheckpoint("node-3", 4);
  tracker.SetInSync({"node-1", "node-2", "node-3"});
  EXPECT_TRUE(tracker.IsInSync("node-3"));
  EXPECT_EQ(tracker.LocalCheckpointOf("node-3"), 4);
}

TEST(R6ReplicationTracker, CopyLeavingInSyncSetIsForgotten) {
  ReplicationTracker tracker("node-1");
  tracker.SetInSync({"node-2", "node-3"});
  tracker.SetInSync({"node-2"});
  EXPECT_FALSE(tracker.IsTracked("node-3"));
  EXPECT_FALSE(tracker.IsInSync("node-3"));
  EXPECT_TRUE(tracker.IsInSync("node-1"));  // the primary always stays
  tracker.UpdateLocalCheckpoint("node-3",
                                50);  // a late reply from a removed copy
  EXPECT_FALSE(tracker.IsTracked("node-3"));
  tracker.RemoveTracking("node-2");
  EXPECT_TRUE(tracker.InSyncReplicas().empty());
  tracker.UpdateLocalCheckpoint("node-1", 3);
  EXPECT_EQ(tracker.GlobalCheckpoint(), 3);
}

}  // namespace
}  // namespace seqsim
