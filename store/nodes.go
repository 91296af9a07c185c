package store

import "context"

// ListNodes returns the nodes of the companies in scope, oldest first.
func (s *Store) ListNodes(ctx context.Context, sc Scope, p Page) ([]Node, int64, error) {
	var rows []Node
	q := inScope(s.reader.WithContext(ctx).Model(&Node{}), sc, "client_id")
	if err := p.apply(q, false).Find(&rows).Error; err != nil {
		return nil, 0, translate(err)
	}
	rows, next := trim(rows, p.Limit, func(n Node) int64 { return n.ID })
	return rows, next, nil
}

// CreateNode inserts a node.
func (s *Store) CreateNode(ctx context.Context, n *Node) error {
	n.CreatedAt = s.now().UTC()
	if n.Type == "" {
		n.Type = NodeTypeCloud
	}
	return translate(s.db.WithContext(ctx).Create(n).Error)
}

// NodeTypeCloud is the type of a node registered without one.
const NodeTypeCloud = "cloud_node"

// CreateNode inserts a node inside the transaction, after the token it
// was registered with (its TokenID), so that both exist or neither.
func (tx *Tx) CreateNode(n *Node) error {
	n.CreatedAt = tx.s.now().UTC()
	if n.Type == "" {
		n.Type = NodeTypeCloud
	}
	return translate(tx.db.Create(n).Error)
}

// LockNode loads a node in scope, locked; else ErrNotFound.
func (tx *Tx) LockNode(sc Scope, id int64) (*Node, error) {
	var n Node
	if err := tx.s.lock(inScope(tx.db.Model(&Node{}), sc, "client_id")).Where("id = ?", id).Take(&n).Error; err != nil {
		return nil, translate(err)
	}
	return &n, nil
}

// DeleteNode deletes a node loaded with LockNode. Its token, if any, is
// the caller's to delete through the rules (rules.Deleted), first.
func (tx *Tx) DeleteNode(n *Node) error {
	return updatedOne(tx.db.Delete(&Node{}, n.ID))
}

// NodeQuery is a Wallarm node search: every set field must match.
type NodeQuery struct {
	ClientIDs []int64
	Type      string // "": any
	NotType   string // "": none excluded
	UUID      string
	Hostname  string
	Offset    int
	Limit     int
	OrderBy   string // "id", "hostname" or "create_time"; "": id
	Desc      bool
}

// FindNodes returns the nodes in scope that match q (Wallarm's offset
// pagination).
func (s *Store) FindNodes(ctx context.Context, sc Scope, q NodeQuery) ([]Node, error) {
	db := inScope(s.db.WithContext(ctx).Model(&Node{}), sc, "client_id")
	if len(q.ClientIDs) > 0 {
		db = db.Where("client_id IN ?", q.ClientIDs)
	}
	if q.Type != "" {
		db = db.Where("type = ?", q.Type)
	}
	if q.NotType != "" {
		db = db.Where("type <> ?", q.NotType)
	}
	if q.UUID != "" {
		db = db.Where("uuid = ?", q.UUID)
	}
	if q.Hostname != "" {
		db = db.Where("name = ?", q.Hostname)
	}
	column := map[string]string{"hostname": "name", "create_time": "created_at"}[q.OrderBy]
	var rows []Node
	err := offsetPage(db, column, q.Desc, q.Offset, q.Limit).Find(&rows).Error
	return rows, translate(err)
}

// DeleteNode deletes a node in scope (and not its token: the server
// deletes a node with its token through a Tx, LockNode and DeleteNode).
func (s *Store) DeleteNode(ctx context.Context, sc Scope, id int64) error {
	q := inScope(s.db.WithContext(ctx), sc, "client_id")
	res := q.Where("id = ?", id).Delete(&Node{})
	if res.Error != nil {
		return translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}
