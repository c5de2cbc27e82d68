package node

import (
	"context"

	"github.com/sessiongate/sessiongate/api"
	"github.com/sessiongate/sessiongate/mover"
	"github.com/sessiongate/sessiongate/sessions"
)

// Locate asks every member for its own copy of one session (mover.Mover.Locate).
func (n *Node) Locate(ctx context.Context, id sessions.ID) []api.Copy {
	if n.cluster == nil {
		return []api.Copy{mover.CopyOf(n.store.ExportChain(id), id, "local", 0)}
	}
	return n.cluster.mover.Locate(ctx, n.cluster.views.Load(), id)
}
