package store

import "context"

// ListNodes returns the nodes of the companies in scope, oldest first.
func (s *Store) ListNodes(ctx context.Context, sc Scope, p Page) ([]Node, int64, error) {
	var rows []Node
	q := inScope(s.db.WithContext(ctx).Model(&Node{}), sc, "client_id")
	if err := p.apply(q, false).Find(&rows).Error; err != nil {
		return nil, 0, translate(err)
	}
	rows, next := trim(rows, p.Limit, func(n Node) int64 { return n.ID })
	return rows, next, nil
}

// CreateNode inserts a node.
func (s *Store) CreateNode(ctx context.Context, n *Node) error {
	n.CreatedAt = s.now().UTC()
	return translate(s.db.WithContext(ctx).Create(n).Error)
}

// DeleteNode deletes a node in scope.
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
